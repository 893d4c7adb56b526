// What the app keeps on disk: settings, contacts and call history, each a versioned JSON file in
// the data directory, written atomically on every change. A damaged file is set aside and reset
// with a notice; the rest of the app reads and changes these lists only through this store.
import { join } from 'node:path';
import { z } from 'zod';
import {
  ContactSchema,
  DEFAULT_SETTINGS,
  HistoryEntrySchema,
  SettingsSchema,
  type Contact,
  type HistoryEntry,
  type Settings,
} from '../../src-shared/ipc-contract.ts';
import type { Logger } from '../engine/base/logger.ts';
import type { AppEvents } from './app-events.ts';
import { loadJsonFile, writeJsonFileAtomic } from './json-file.ts';

// Files written before a setting existed lack it: it takes its default there (and only there,
// not in a patch, where a missing field means "unchanged").
const SettingsFileSchema = z.strictObject({
  version: z.literal(1),
  settings: SettingsSchema.extend({
    portMapping: SettingsSchema.shape.portMapping.default(DEFAULT_SETTINGS.portMapping),
  }),
});
const ContactsFileSchema = z.strictObject({
  version: z.literal(1),
  contacts: z.array(ContactSchema).max(10_000),
});
const HistoryFileSchema = z.strictObject({
  version: z.literal(1),
  entries: z.array(HistoryEntrySchema).max(10_000),
});

export interface AppStoreOptions {
  dataDir: string;
  events: AppEvents;
  log: Logger;
  now: () => number;
  maxHistory: number;
  /** After settings change, e.g. for the shell to apply "start at login". */
  onSettingsChanged?: ((settings: Settings) => void) | undefined;
  /** After the contact list changes (the phone watches their presence). */
  onContactsChanged?: () => void;
}

export class AppStore {
  readonly #opts: AppStoreOptions;
  readonly #paths: { settings: string; contacts: string; history: string };
  #settings: Settings = structuredClone(DEFAULT_SETTINGS);
  #contacts: Contact[] = [];
  #history: HistoryEntry[] = [];

  constructor(opts: AppStoreOptions) {
    this.#opts = opts;
    this.#paths = {
      settings: join(opts.dataDir, 'settings.json'),
      contacts: join(opts.dataDir, 'contacts.json'),
      history: join(opts.dataDir, 'history.json'),
    };
  }

  get settings(): Settings {
    return this.#settings;
  }

  get contacts(): readonly Contact[] {
    return this.#contacts;
  }

  get history(): readonly HistoryEntry[] {
    return this.#history;
  }

  load(): void {
    const s = this.#load(this.#paths.settings, SettingsFileSchema, 'settings');
    if (s) this.#settings = s.settings;
    const c = this.#load(this.#paths.contacts, ContactsFileSchema, 'contacts');
    if (c) this.#contacts = c.contacts;
    const h = this.#load(this.#paths.history, HistoryFileSchema, 'call history');
    if (h) this.#history = h.entries;
  }

  setSettings(settings: Settings): void {
    this.#settings = settings;
    writeJsonFileAtomic(this.#paths.settings, { version: 1, settings });
    this.#opts.onSettingsChanged?.(structuredClone(settings));
    this.#opts.events.queueSnapshot();
  }

  setContacts(list: Contact[]): void {
    this.#contacts = list;
    writeJsonFileAtomic(this.#paths.contacts, { version: 1, contacts: list });
    this.#opts.onContactsChanged?.();
    this.#opts.events.queueSnapshot();
  }

  /** Newest first, at most `maxHistory` entries. */
  addHistory(entry: HistoryEntry): void {
    this.#history = [entry, ...this.#history].slice(0, this.#opts.maxHistory);
    this.#saveHistory();
  }

  clearHistory(): void {
    this.#history = [];
    this.#saveHistory();
    this.#opts.events.queueSnapshot();
  }

  #saveHistory(): void {
    writeJsonFileAtomic(this.#paths.history, { version: 1, entries: this.#history });
  }

  #load<S extends z.ZodType>(path: string, schema: S, what: string): z.output<S> | null {
    const r = loadJsonFile(path, schema, this.#opts.now);
    if (r.kind === 'ok') return r.value;
    if (r.kind === 'corrupt') {
      const where = r.movedTo ? ` It was kept as ${r.movedTo}.` : '';
      this.#opts.events.notice(
        'error',
        `Your ${what} file was damaged (${r.reason}) and was reset.${where}`,
      );
      this.#opts.log.warn({ path, reason: r.reason }, 'damaged file set aside');
    }
    return null;
  }
}
