/**
 * URLs for display. An endpoint or proxy URL in the config may carry credentials
 * (`https://user:password@host`); wherever a URL is shown (a result's target, logs, the report,
 * the status page) that part is removed.
 */

// scheme://userinfo@ — userinfo may hold a raw '@' or ':' (a careless password), so match up to the
// last '@' before the host's end (whitespace, '/', quote or bracket).
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#"'<>()[\]]*@/gi;

/** Removes `user:password@` from every URL in `text` (a proxy URL quoted in an error, say). */
export function stripUserinfo(text: string): string {
  return text.replace(USERINFO, '$1');
}

/** A URL for display: no userinfo; undefined stays undefined. */
export function displayUrl(url: string | undefined): string | undefined {
  return url === undefined ? undefined : stripUserinfo(url);
}
