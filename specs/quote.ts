// Values as data in the languages the scripts speak and write: each function returns a literal of its
// language whose value is exactly its input, whatever the input holds. Config checks what a value may
// be (config/safe-strings.ts); these make sure it is only ever read as a value.

/** A bash word whose value is `value`: single quotes, inside which nothing is special but ' itself. */
export function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const hex4 = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/** A TOML basic string ("...") whose value is `value`: quote, backslash and control characters escaped. */
export function tomlString(value: string): string {
  return `"${value.replace(/[\\"\x00-\x1f\x7f]/g, (c) => (c === "\\" || c === '"' ? `\\${c}` : hex4(c)))}"`;
}

/**
 * A YAML double-quoted scalar whose value is `value`. JSON's string syntax is YAML's; the characters
 * YAML may not hold unescaped (DEL, C1 controls, U+FFFE/U+FFFF) and the line breaks of YAML 1.1 (NEL,
 * U+2028, U+2029: kubeadm's parser would fold them into spaces) are escaped too.
 */
export function yamlString(value: string): string {
  return JSON.stringify(value).replace(/[\x7f-\x9f\u2028\u2029\ufffe\uffff]/g, hex4);
}
