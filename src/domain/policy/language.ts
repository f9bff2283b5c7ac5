/**
 * oslo.policy's rule language, parsed once and compiled to closures.
 *
 * A rule is `@` (always), `!` (never), `""` (always), or checks joined by `and`, `or`, `not` and
 * parentheses, `and` binding tighter than `or`. A check is `kind:match`:
 * - `rule:NAME` evaluates another rule;
 * - `role:NAME` holds when the caller has the role (case-insensitive; NAME may use `%(key)s`);
 * - anything else compares the formatted match with a credential (`project_id:%(project_id)s`,
 *   `is_admin:True`, `user.domain:x` walks dotted keys) or, when the left side is a literal
 *   (`'public':%(visibility)s`, `True:%(flag)s`), with that literal.
 * `%(key)s` is replaced by the target's `key` (the whole name, dots included, as Python's `%`
 * does); a missing key makes the check false. Values print as Python prints them (None, True).
 *
 * Where oslo.policy logs an unparsable rule and treats it as `!`, this parser throws, so a bad
 * policy is refused at start-up with the rule's name instead of silently denying.
 */

export type Credentials = Readonly<Record<string, unknown>> & { readonly roles: readonly string[] };
export type Target = Readonly<Record<string, unknown>>;
export type Check = (creds: Credentials, target: Target) => boolean;

export class PolicySyntaxError extends Error {}

export type RuleNode =
  | { kind: 'always' }
  | { kind: 'never' }
  | { kind: 'and' | 'or'; items: RuleNode[] }
  | { kind: 'not'; item: RuleNode }
  | { kind: 'rule'; name: string }
  | { kind: 'role'; match: Template }
  | { kind: 'compare'; left: { literal: string } | { path: string[] }; match: Template };

/** A `%(key)s` pattern: literal text and target keys, in order. */
export type Template = ReadonlyArray<string | { key: string }>;

/** The old JSON form: a list of lists, outer joined by `or`, inner by `and`. */
export type ListRule = ReadonlyArray<string | readonly string[]>;

type Token = { t: '(' } | { t: ')' } | { t: 'and' } | { t: 'or' } | { t: 'not' } | { t: 'check'; node: RuleNode } | { t: 'string'; text: string };

export function parseRule(text: string | ListRule): RuleNode {
  if (typeof text !== 'string') return parseListRule(text);
  if (text === '') return { kind: 'always' };
  const tokens = tokenize(text);
  if (tokens.length === 0) throw new PolicySyntaxError('a rule of only spaces (write "" to allow everyone, "!" to allow no one)');
  let at = 0;
  const peek = () => tokens[at];
  const expression = (): RuleNode => {
    const items = [conjunction()];
    while (peek()?.t === 'or') {
      at++;
      items.push(conjunction());
    }
    return items.length === 1 ? items[0] : { kind: 'or', items };
  };
  const conjunction = (): RuleNode => {
    const items = [unary()];
    while (peek()?.t === 'and') {
      at++;
      items.push(unary());
    }
    return items.length === 1 ? items[0] : { kind: 'and', items };
  };
  const unary = (): RuleNode => {
    const token = tokens[at++];
    if (token === undefined) throw new PolicySyntaxError('the rule ends where a check was expected');
    switch (token.t) {
      case 'not':
        return { kind: 'not', item: unary() };
      case '(': {
        const inner = expression();
        if (tokens[at++]?.t !== ')') throw new PolicySyntaxError('a "(" is not closed');
        return inner;
      }
      case 'check':
        return token.node;
      case 'string':
        throw new PolicySyntaxError(`a quoted string "${token.text}" stands where a check was expected`);
      default:
        throw new PolicySyntaxError(`"${token.t}" stands where a check was expected`);
    }
  };
  const node = expression();
  if (at < tokens.length) {
    const extra = tokens[at];
    throw new PolicySyntaxError(extra.t === ')' ? 'a ")" closes nothing' : `unexpected "${extra.t === 'check' || extra.t === 'string' ? 'check' : extra.t}" after a complete rule`);
  }
  return node;
}

function parseListRule(rule: ListRule): RuleNode {
  if (!Array.isArray(rule)) throw new PolicySyntaxError('a rule must be a string (or a list of lists of checks)');
  if (rule.length === 0) return { kind: 'always' };
  const alternatives: RuleNode[] = [];
  for (const inner of rule as ListRule) {
    const all = typeof inner === 'string' ? [inner] : inner;
    if (!Array.isArray(all) || all.some((c) => typeof c !== 'string')) throw new PolicySyntaxError('a list rule holds lists of check strings');
    if (all.length === 0) continue;
    const checks = all.map((c) => parseCheck(c));
    alternatives.push(checks.length === 1 ? checks[0] : { kind: 'and', items: checks });
  }
  if (alternatives.length === 0) return { kind: 'never' };
  return alternatives.length === 1 ? alternatives[0] : { kind: 'or', items: alternatives };
}

/** oslo.policy's tokenizer: whitespace separates tokens; parentheses stick to checks. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  for (const raw of text.split(/\s+/)) {
    if (raw === '') continue;
    let word = raw;
    while (word.startsWith('(')) {
      tokens.push({ t: '(' });
      word = word.slice(1);
    }
    if (word === '') continue;
    const opened = word;
    let trailing = 0;
    while (word.endsWith(')')) {
      trailing++;
      word = word.slice(0, -1);
    }
    const lowered = word.toLowerCase();
    if (lowered === 'and' || lowered === 'or' || lowered === 'not') tokens.push({ t: lowered });
    else if (word !== '') {
      // as oslo.policy: a token quoted from end to end (closing parentheses included) is a string
      const quoted = opened.length >= 2 && (opened[0] === '"' || opened[0] === "'") && opened[opened.length - 1] === opened[0];
      tokens.push(quoted ? { t: 'string', text: opened.slice(1, -1) } : { t: 'check', node: parseCheck(word) });
    }
    for (let i = 0; i < trailing; i++) tokens.push({ t: ')' });
  }
  return tokens;
}

function parseCheck(text: string): RuleNode {
  if (text === '!') return { kind: 'never' };
  if (text === '@') return { kind: 'always' };
  const colon = text.indexOf(':');
  if (colon < 0) throw new PolicySyntaxError(`"${text}" is not a check (kind:match, @ or !)`);
  const kind = text.slice(0, colon);
  const match = text.slice(colon + 1);
  if (kind === 'rule') {
    if (match === '') throw new PolicySyntaxError('"rule:" names no rule');
    return { kind: 'rule', name: match };
  }
  if (kind === 'role') return { kind: 'role', match: parseTemplate(match) };
  if (kind === 'http' || kind === 'https') throw new PolicySyntaxError(`remote "${kind}:" checks are not supported`);
  if (kind === '') throw new PolicySyntaxError(`"${text}" has nothing before the colon`);
  const literal = literalValue(kind);
  return { kind: 'compare', left: literal !== undefined ? { literal } : { path: kind.split('.') }, match: parseTemplate(match) };
}

/** The printed form of a Python literal on the left of a check (`'public'`, `True`, `42`), if it is one. */
function literalValue(kind: string): string | undefined {
  const quote = kind[0];
  if (kind.length >= 2 && (quote === "'" || quote === '"') && kind[kind.length - 1] === quote) return kind.slice(1, -1);
  if (kind === 'True' || kind === 'False' || kind === 'None') return kind;
  if (/^-?\d+$/.test(kind)) return String(Number.parseInt(kind, 10));
  return undefined;
}

function parseTemplate(text: string): Template {
  const parts: Array<string | { key: string }> = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '%') {
      literal += c;
      continue;
    }
    if (text[i + 1] === '%') {
      literal += '%';
      i++;
      continue;
    }
    const close = text.indexOf(')', i);
    if (text[i + 1] !== '(' || close < 0 || text[close + 1] !== 's') {
      throw new PolicySyntaxError(`"${text}": only %(name)s substitutions (and %%) are supported`);
    }
    if (literal) parts.push(literal);
    literal = '';
    parts.push({ key: text.slice(i + 2, close) });
    i = close + 1;
  }
  if (literal || parts.length === 0) parts.push(literal);
  return parts;
}

/** Python's str() of a target or credential value. */
export function pythonString(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (Array.isArray(value)) return `[${value.map((v) => (typeof v === 'string' ? `'${v}'` : pythonString(v))).join(', ')}]`;
  return String(value);
}

function format(template: Template, target: Target): string | undefined {
  if (template.length === 1 && typeof template[0] === 'string') return template[0];
  let out = '';
  for (const part of template) {
    if (typeof part === 'string') out += part;
    else {
      if (!Object.hasOwn(target, part.key)) return undefined;
      out += pythonString(target[part.key]);
    }
  }
  return out;
}

function findInCredentials(value: unknown, path: readonly string[], match: string): boolean {
  if (path.length === 0) return pythonString(value) === match;
  if (value === null || typeof value !== 'object' || !Object.hasOwn(value, path[0])) return false;
  const next = (value as Record<string, unknown>)[path[0]];
  const rest = path.slice(1);
  if (Array.isArray(next)) return next.some((item) => findInCredentials(item, rest, match));
  return findInCredentials(next, rest, match);
}

/** Every `rule:` name a rule refers to. */
export function referencedRules(node: RuleNode, into: Set<string> = new Set()): Set<string> {
  if (node.kind === 'rule') into.add(node.name);
  else if (node.kind === 'and' || node.kind === 'or') for (const item of node.items) referencedRules(item, into);
  else if (node.kind === 'not') referencedRules(node.item, into);
  return into;
}

/** Turns a parsed rule into a closure; `rule:` references go through `resolve` (checked beforehand). */
export function compile(node: RuleNode, resolve: (name: string) => Check): Check {
  switch (node.kind) {
    case 'always':
      return () => true;
    case 'never':
      return () => false;
    case 'not': {
      const inner = compile(node.item, resolve);
      return (c, t) => !inner(c, t);
    }
    case 'and': {
      const items = node.items.map((n) => compile(n, resolve));
      return (c, t) => items.every((check) => check(c, t));
    }
    case 'or': {
      const items = node.items.map((n) => compile(n, resolve));
      return (c, t) => items.some((check) => check(c, t));
    }
    case 'rule': {
      let target: Check | undefined;
      return (c, t) => (target ??= resolve(node.name))(c, t);
    }
    case 'role': {
      const { match } = node;
      return (c, t) => {
        const role = format(match, t);
        return role !== undefined && c.roles.includes(role.toLowerCase());
      };
    }
    case 'compare': {
      const { left, match } = node;
      if ('literal' in left) return (_c, t) => format(match, t) === left.literal;
      return (c, t) => {
        const expected = format(match, t);
        return expected !== undefined && findInCredentials(c, left.path, expected);
      };
    }
  }
}
