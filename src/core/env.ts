/** The process environment as the exporter reads it (config substitution, proxy variables). */
export type Env = Readonly<Record<string, string | undefined>>;
