/**
 * Replaces every secret in a response text with "[redacted]": the last line of defence behind
 * views that never include secrets on purpose (an error message quoting a URL with its
 * password, say). Secrets are matched as they appear inside JSON strings.
 */
export function createScrubber(secrets: () => readonly string[]): (text: string) => string {
  return (text) => {
    let out = text;
    for (const secret of secrets()) {
      if (secret.length === 0) continue;
      for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])) {
        if (out.includes(form)) out = out.split(form).join("[redacted]");
      }
    }
    return out;
  };
}
