// Where a queue lives, as messages may show it (both drivers use this one function).

/** Whether `database` names a Postgres server rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/**
 * The database as messages may show it: a URL without its password (in the user part or a
 * `password=` parameter); a SQLite path as it is.
 */
export function redactUrl(database: string): string {
  // Any URL, not only postgres:// ones: a mistyped scheme must not print its password either.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(database)) return database;
  let url: URL;
  try {
    url = new URL(database);
  } catch {
    // Unparsable: show only the scheme and host part up to any credentials.
    return database.replace(/\/\/[^@/]*@/, "//***@");
  }
  url.password = "";
  for (const key of [...url.searchParams.keys()]) if (key.toLowerCase() === "password") url.searchParams.set(key, "***");
  return url.toString();
}
