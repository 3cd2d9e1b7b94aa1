// How bash reads each character of a script: as plain data (inside single quotes, in the body of a quoted
// here-document `<<'EOF'`, in a comment) or where it could be run or expanded (a bare word, inside double
// quotes, $(...), ${...}, backquotes, an unquoted here-document). Quoted text handed to something that
// runs it again (eval, trap, bash -c, a here-document fed to bash) counts as code. A small lexer for the
// bash the scripts are written in; it refuses what it does not know (an unterminated quote or
// here-document) rather than guess. tests/unit/values-as-data.test.ts checks it on known cases.

export type Context = "code" | "single" | "double" | "heredoc" | "quotedHeredoc" | "comment" | "evaluated";

/** Contexts where bash takes every character literally (a comment up to its line break). */
export const INERT: ReadonlySet<Context> = new Set<Context>(["single", "quotedHeredoc", "comment"]);

interface HereDoc {
  delimiter: string;
  quoted: boolean;
  stripTabs: boolean;
}

/** Characters that end a word, before which a '#' starts a comment. */
const WORD_BREAK = /[\s;&|()<>]/;
/** A command earlier on the line that runs its (quoted) argument or input as shell code. */
const RUNS_CODE = /(^|[\s;&|(`])(eval|trap|source|\.|bash|sh|dash|zsh|su|ssh|sudo|xargs|env)(\s|$)/;

class Lexer {
  readonly contexts: Context[];
  private i = 0;
  /** Where the current line of code began: what runs on it decides whether quoted text is code again. */
  private lineStart = 0;
  private pending: HereDoc[] = [];

  constructor(private readonly src: string) {
    this.contexts = new Array<Context>(src.length).fill("code");
  }

  run(): Context[] {
    this.code(undefined);
    if (this.pending.length > 0) throw new Error(`here-document ${this.pending[0].delimiter} never starts`);
    return this.contexts;
  }

  private at(offset = 0): string {
    return this.src[this.i + offset] ?? "";
  }

  /** Code up to `close` (")" of $(, "}" of ${, "`"), nested brackets counted, or to the end. */
  private code(close: ")" | "}" | "`" | undefined): void {
    const open = close === ")" ? "(" : close === "}" ? "{" : undefined;
    let depth = 0;
    while (this.i < this.src.length) {
      const c = this.at();
      if (c === close && depth === 0) {
        this.i++;
        return;
      }
      if (c === "\\") this.i += 2;
      else if (c === "'") this.single();
      else if (c === '"') {
        this.i++;
        this.double();
      } else if (c === "`") {
        this.i++;
        this.code("`");
      } else if (c === "$" && this.at(1) === "'") this.ansiC();
      else if (c === "$" && (this.at(1) === "(" || this.at(1) === "{")) {
        this.i += 2;
        this.code(this.at(-1) === "(" ? ")" : "}");
      } else if (c === "#" && close !== "}" && (this.i === 0 || WORD_BREAK.test(this.at(-1)))) this.comment();
      else if (this.src.startsWith("<<<", this.i)) this.i += 3;
      else if (this.src.startsWith("<<", this.i)) this.hereDocOperator();
      else if (c === "\n") {
        this.i++;
        this.hereDocBodies();
        this.lineStart = this.i;
      } else {
        if (c === open) depth++;
        else if (c === close) depth--;
        this.i++;
      }
    }
    if (close !== undefined) throw new Error(`unterminated ${close === "`" ? "`" : `$${open}`}`);
  }

  private single(): void {
    const end = this.src.indexOf("'", this.i + 1);
    if (end < 0) throw new Error(`unterminated single quote at ${this.i}`);
    this.contexts.fill(this.runsCode() ? "evaluated" : "single", this.i + 1, end);
    this.i = end + 1;
  }

  /** $'...': backslash escapes are read, so nothing in it is plain data. */
  private ansiC(): void {
    this.i += 2;
    while (this.at() !== "'") {
      if (this.i >= this.src.length) throw new Error("unterminated $'");
      this.i += this.at() === "\\" ? 2 : 1;
    }
    this.i++;
  }

  /** Inside double quotes (after the opening one), or an unquoted here-document's line when `untilLineEnd`. */
  private double(untilLineEnd = false): void {
    const context: Context = untilLineEnd ? "heredoc" : "double";
    while (this.i < this.src.length) {
      const c = this.at();
      if (untilLineEnd ? c === "\n" : c === '"') {
        this.i++;
        return;
      }
      if (c === "\\") {
        this.contexts.fill(context, this.i, this.i + 2);
        this.i += 2;
      } else if (c === "`") {
        this.i++;
        this.code("`");
      } else if (c === "$" && (this.at(1) === "(" || this.at(1) === "{")) {
        this.i += 2;
        this.code(this.at(-1) === "(" ? ")" : "}");
      } else {
        this.contexts[this.i] = context;
        this.i++;
      }
    }
    if (!untilLineEnd) throw new Error("unterminated double quote");
  }

  private runsCode(): boolean {
    return RUNS_CODE.test(this.src.slice(this.lineStart, this.i));
  }

  private comment(): void {
    const end = this.src.indexOf("\n", this.i);
    const stop = end < 0 ? this.src.length : end;
    this.contexts.fill("comment", this.i, stop);
    this.i = stop;
  }

  /** `<<WORD`, `<<-WORD`, `<<'WORD'`: the body starts after this line. */
  private hereDocOperator(): void {
    this.i += 2;
    const stripTabs = this.at() === "-";
    if (stripTabs) this.i++;
    while (this.at() === " " || this.at() === "\t") this.i++;
    let word = "";
    while (this.i < this.src.length && !WORD_BREAK.test(this.at())) word += this.src[this.i++];
    if (word === "") throw new Error("here-document without a delimiter");
    // A quoted body fed to a shell is code all the same.
    this.pending.push({ delimiter: word.replace(/['"\\]/g, ""), quoted: /['"\\]/.test(word) && !this.runsCode(), stripTabs });
  }

  private hereDocBodies(): void {
    for (const doc of this.pending.splice(0)) {
      for (;;) {
        if (this.i >= this.src.length) throw new Error(`here-document ${doc.delimiter} is not terminated`);
        const end = this.src.indexOf("\n", this.i);
        const stop = end < 0 ? this.src.length : end;
        const line = this.src.slice(this.i, stop);
        if ((doc.stripTabs ? line.replace(/^\t+/, "") : line) === doc.delimiter) {
          this.i = stop + 1;
          break;
        }
        if (doc.quoted) {
          this.contexts.fill("quotedHeredoc", this.i, stop + 1);
          this.i = stop + 1;
        } else this.double(true);
      }
    }
  }
}

/** The context of each character of `script`; throws on what this lexer does not take apart. */
export function shellContexts(script: string): Context[] {
  return new Lexer(script).run();
}

/**
 * Each place `value` stands in `script` where bash would not take it literally, as "line N: text";
 * empty when every occurrence is plain data. `contexts` is shellContexts(script), computed once.
 */
export function exposedOccurrences(script: string, contexts: readonly Context[], value: string): string[] {
  const found: string[] = [];
  if (value === "") return found;
  for (let at = script.indexOf(value); at >= 0; at = script.indexOf(value, at + 1)) {
    const exposed = contexts.slice(at, at + value.length).find((c) => !INERT.has(c));
    if (exposed === undefined) continue;
    const line = script.slice(0, at).split("\n").length;
    const text = script.split("\n")[line - 1];
    found.push(`line ${line} (${exposed}): ${text}`);
  }
  return found;
}
