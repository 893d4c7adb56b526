// The address book's rules, without I/O: one contact per fingerprint, unique names, the
// "verified" mark only from a QR scan, and a key change recorded (and shown) rather than
// silently applied. The app service persists what these functions return.
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { formatFingerprint } from '../../src-shared/fingerprint.ts';
import type { Contact } from '../../src-shared/ipc-contract.ts';
import { AppError } from './app-error.ts';

export type ContactSource = 'typed' | 'qr';

function sameName(a: string, b: string): boolean {
  return a.localeCompare(b, undefined, { sensitivity: 'accent' }) === 0;
}

export function findContact(list: readonly Contact[], id: string): Contact {
  const c = list.find((x) => x.id === id);
  if (!c) throw new AppError('not-found', 'no such contact');
  return c;
}

export function addContact(
  list: readonly Contact[],
  input: { name: string; fingerprint: Fingerprint; source: ContactSource },
  now: number,
  id: string,
): { list: Contact[]; contact: Contact } {
  const byKey = list.find((c) => c.fingerprint === input.fingerprint);
  if (byKey) {
    if (input.source === 'qr' && !byKey.verified) {
      // Scanning the QR of someone already added by text confirms the key: mark it verified.
      const contact = { ...byKey, verified: true };
      return { list: list.map((c) => (c.id === byKey.id ? contact : c)), contact };
    }
    throw new AppError(
      'conflict',
      `this fingerprint is already in your contacts as "${byKey.name}"`,
    );
  }
  const byName = list.find((c) => sameName(c.name, input.name));
  if (byName) {
    throw new AppError(
      'key-changed',
      `"${byName.name}" is already in your contacts with a different key ` +
        `(${formatFingerprint(byName.fingerprint).slice(0, 16)}…). If ${byName.name} really has ` +
        'a new identity, verify it with them and use "Replace key".',
    );
  }
  const contact: Contact = {
    id,
    name: input.name,
    fingerprint: input.fingerprint,
    verified: input.source === 'qr',
    addedAt: now,
    lastCallAt: null,
    keyChange: null,
  };
  return { list: [...list, contact], contact };
}

export function renameContact(
  list: readonly Contact[],
  id: string,
  name: string,
): { list: Contact[]; contact: Contact } {
  const target = findContact(list, id);
  const clash = list.find((c) => c.id !== id && sameName(c.name, name));
  if (clash) throw new AppError('conflict', `another contact is already called "${clash.name}"`);
  const contact = { ...target, name };
  return { list: list.map((c) => (c.id === id ? contact : c)), contact };
}

export function removeContact(list: readonly Contact[], id: string): Contact[] {
  findContact(list, id);
  return list.filter((c) => c.id !== id);
}

export function replaceContactKey(
  list: readonly Contact[],
  id: string,
  fingerprint: Fingerprint,
  source: ContactSource,
  now: number,
): { list: Contact[]; contact: Contact } {
  const target = findContact(list, id);
  if (target.fingerprint === fingerprint) {
    throw new AppError('conflict', "that is already this contact's key");
  }
  const other = list.find((c) => c.fingerprint === fingerprint);
  if (other) throw new AppError('conflict', `that key belongs to "${other.name}"`);
  const contact: Contact = {
    ...target,
    fingerprint,
    verified: source === 'qr',
    keyChange: { previousFingerprint: target.fingerprint, changedAt: now },
  };
  return { list: list.map((c) => (c.id === id ? contact : c)), contact };
}

export function acknowledgeKeyChange(
  list: readonly Contact[],
  id: string,
): { list: Contact[]; contact: Contact } {
  const contact = { ...findContact(list, id), keyChange: null };
  return { list: list.map((c) => (c.id === id ? contact : c)), contact };
}
