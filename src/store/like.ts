/**
 * A LIKE pattern matching values that start with `prefix`, used with `escape '\'`: `%`, `_` and `\`
 * in what a person typed are letters, not wildcards.
 */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
