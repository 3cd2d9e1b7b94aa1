// What a config value may hold when it reaches a script or a file a script writes (apt's source lists,
// containerd's hosts.toml, kubeadm's config). The scripts quote every value for its language
// (specs/quote.ts), so none is ever run; these checks keep each value one plain thing to the programs
// that read those files, where quoting does not reach: apt takes a line break as a second source and
// '#' as the start of a comment. Each function says why a value is refused and how to fix it, or
// returns undefined.

/** Why `value` holds a control character (U+0000-U+001F, U+007F), or undefined. */
export function controlCharacterProblem(value: string): string | undefined {
  const found = /[\x00-\x1f\x7f]/.exec(value);
  if (!found) return undefined;
  const code = found[0].charCodeAt(0);
  const what = code === 10 ? "a line break" : code === 9 ? "a tab" : code === 13 ? "a carriage return" : "a control character";
  return `holds ${what} (U+${code.toString(16).toUpperCase().padStart(4, "0")}) at character ${found.index + 1}; remove it`;
}

/**
 * RFC 3986's URL characters without ' and $ (which mean something to a shell wherever a value was
 * quoted by hand) and without braces, spaces, quotes, backquotes and backslashes: those are written
 * percent-encoded.
 */
const URL_CHARACTER = /^[A-Za-z0-9\-._~:/?#[\]@!&()*+,;=%]$/;
/** A URL's host once parsed: DNS labels (an IPv4 address is one), or an IPv6 address in brackets. */
const URL_HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*)$/;

function percentEncoded(c: string): string {
  return [...new TextEncoder().encode(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("");
}

export interface UrlRules {
  /** Schemes allowed, lower-case: ["http", "https"]. */
  schemes: readonly string[];
  /** What the value must be, for the message; "an http:// or https:// URL" by default. */
  what?: string;
  /** An apt source: apt ends the line at '#', so a fragment would cut it. */
  apt?: boolean;
}

/** Why `text` is not a URL the scripts can pass on as written, or undefined. */
export function urlProblem(text: string, rules: UrlRules): string | undefined {
  const what = rules.what ?? `an ${rules.schemes.map((s) => `${s}://`).join(" or ")} URL`;
  const control = controlCharacterProblem(text);
  if (control) return control;
  const bad = [...text].find((c) => !URL_CHARACTER.test(c));
  if (bad !== undefined) {
    return `holds ${JSON.stringify(bad)}, which a URL here may not hold as written; percent-encode it (${percentEncoded(bad)})`;
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1].toLowerCase();
  if (scheme === undefined || !rules.schemes.includes(scheme)) return `must be ${what}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be ${what}: this one does not parse (check the host and port)`;
  }
  if (!URL_HOST.test(url.hostname)) return `must be ${what} with a host name or IP address as its host (got host ${JSON.stringify(url.hostname)})`;
  // Brackets belong to an IPv6 host only; in a path they are percent-encoded.
  const afterHost = text.slice(scheme.length + 3).search(/[/?#]/);
  if (afterHost >= 0 && /[[\]]/.test(text.slice(scheme.length + 3 + afterHost))) {
    return "holds '[' or ']' after its host; percent-encode them (%5B, %5D)";
  }
  if (rules.apt && text.includes("#")) return "holds '#', where apt would end the source line; remove the fragment or percent-encode it (%23)";
  return undefined;
}

/** The placeholder sources.kubernetes.aptUrl may hold, replaced by cluster.kubernetesVersion. */
export const MINOR_PLACEHOLDER = "{minor}";

/**
 * Why sources.kubernetes.aptUrl as written cannot become an apt URL, or undefined; the URL it becomes
 * (with {minor} filled in) is checked again with urlProblem where the minor is known.
 */
export function aptUrlTemplateProblem(text: string): string | undefined {
  const control = controlCharacterProblem(text);
  if (control) return control;
  if (/[{}]/.test(text.split(MINOR_PLACEHOLDER).join(""))) {
    return `holds a brace other than ${MINOR_PLACEHOLDER}, the only placeholder; percent-encode it (%7B, %7D)`;
  }
  return undefined;
}

/** POSIX's portable user names, as Debian's adduser takes them by default. */
export const POSIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/**
 * Why `text` is not an OpenPGP v4 fingerprint, or undefined: 40 hex digits, in either case, with spaces
 * anywhere (gpg prints them in groups). A short or long key ID is refused: anyone can make a key to match one.
 */
export function fingerprintProblem(text: string): string | undefined {
  const control = controlCharacterProblem(text);
  if (control) return control;
  const digits = text.replace(/ /g, "");
  if (/^0x/i.test(digits)) return "starts with 0x; write the 40 hex digits alone";
  const bad = [...digits].find((c) => !/[0-9A-Fa-f]/.test(c));
  if (bad !== undefined) return `holds ${JSON.stringify(bad)}; a fingerprint is 40 hex digits (0-9, A-F), spaces allowed, as gpg --show-keys prints it`;
  if (digits.length === 40) return undefined;
  const hint =
    digits.length === 8 || digits.length === 16
      ? ": that is a key ID, which anyone can make a key to match; give the whole fingerprint"
      : digits.length === 64
        ? ": that is an OpenPGP v5/v6 fingerprint; give the v4 fingerprint of the key"
        : "";
  return `has ${digits.length} hex digits; an OpenPGP v4 fingerprint has 40${hint}`;
}

/** A fingerprint fingerprintProblem accepted, as gpg's --with-colons output writes it: 40 upper-case hex digits. */
export function normalisedFingerprint(text: string): string {
  return text.replace(/ /g, "").toUpperCase();
}
