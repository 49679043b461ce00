import { FileReadError } from '../../core/files.js';

/** How a file the web config names (or the web config itself) that could not be read is reported. */
export function fileProblem(err: unknown, path: string): string {
  return err instanceof FileReadError ? err.message : `cannot read ${path}: ${errorCode(err)}`;
}

/** The errno code (`ENOENT`...) of a failed file operation, or the error as text. */
export function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}
