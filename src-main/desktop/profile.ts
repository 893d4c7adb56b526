// Profiles: `--profile NAME` runs a second, separate identity of the app on the same computer
// (its own data directory beside the default one), e.g. to try a call between two windows. The
// built-in relay stays the machine user's: it lives with the default profile, and every profile
// running at the same time uses the one that is running (embedded-relay.ts).

/** Letters, digits, '-' and '_', starting with a letter or digit, at most 32 characters. */
export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

export type ProfileParse = { ok: true; profile: string | null } | { ok: false; error: string };

export function parseProfileName(text: string | undefined): ProfileParse {
  if (text === undefined || text === '') return { ok: true, profile: null };
  if (!PROFILE_NAME.test(text)) {
    return {
      ok: false,
      error: `bad profile name "${text.slice(0, 40)}": use letters, digits, '-' and '_' (at most 32)`,
    };
  }
  return { ok: true, profile: text };
}

/** `--profile NAME` or `--profile=NAME` among command-line arguments (Electron's argv). */
export function profileFromArgv(argv: readonly string[]): ProfileParse {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--profile') return parseProfileName(argv[i + 1] ?? '\0');
    if (a.startsWith('--profile=')) return parseProfileName(a.slice('--profile='.length));
  }
  return { ok: true, profile: null };
}

/** The data directory of a profile: the default one, or a sibling named after the profile. */
export function profileDataDir(defaultDir: string, profile: string | null): string {
  return profile === null ? defaultDir : `${defaultDir.replace(/[\\/]+$/, '')}-${profile}`;
}
