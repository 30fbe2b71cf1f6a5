/**
 * The project's one result type for parsing and checking what a person or a peer wrote (flags, config files, control
 * requests): a value, or one sentence saying what is wrong and what to do. Lives at the bottom of the layers so every
 * folder can return it without importing another folder's module.
 */

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

export function ok<T>(value: T): Checked<T> {
  return { ok: true, value };
}

export function fail<T = never>(error: string): Checked<T> {
  return { ok: false, error };
}
