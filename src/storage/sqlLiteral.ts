/** SQL string literal for values that come from validated config (quotes doubled all the same). DDL takes no bound parameters. */
export function sqlLiteral(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}
