/** SQL string literal for values that come from validated config (quotes doubled all the same). DDL takes no bound parameters. */
export function sqlLiteral(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

/** A quoted SQL identifier (both engines): `"name"`, quotes doubled. Names are validated before; this keeps any name one identifier all the same. */
export function quoteIdentifier(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
}
