/**
 * The members of a JSON object in the order the text has them. JSON.parse puts integer-like keys
 * ("1", "2", "10") first in numeric order, but an `_upload` file is imported in file order (its
 * entries may depend on earlier ones), whatever its keys look like. A key given twice keeps its
 * first place and its last value, as an ordered map would. Null when `text` is not a JSON object.
 */
export function orderedEntries(text: string): Array<[string, unknown]> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  // The text is valid JSON from here on: the scan below only finds where members start and end.
  const members = new Map<string, unknown>();
  let i = skipSpace(text, text.indexOf('{') + 1);
  while (text[i] !== '}') {
    const keyEnd = endOfString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    const valueStart = skipSpace(text, skipSpace(text, keyEnd) + 1);
    const valueEnd = endOfValue(text, valueStart);
    members.set(key, JSON.parse(text.slice(valueStart, valueEnd)));
    i = skipSpace(text, valueEnd);
    if (text[i] === ',') i = skipSpace(text, i + 1);
  }
  return [...members];
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  return i;
}

/** Index just past the string literal starting at `i` (a `"`). */
function endOfString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  return text.length;
}

/** Index just past the value starting at `i`: a string, a nested object or array, or a literal. */
function endOfValue(text: string, i: number): number {
  if (text[i] === '"') return endOfString(text, i);
  if (text[i] === '{' || text[i] === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (c === '"') j = endOfString(text, j) - 1;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return text.length;
  }
  let j = i;
  while (j < text.length && !',}] \t\n\r'.includes(text[j])) j++;
  return j;
}
