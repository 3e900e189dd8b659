/**
 * A strict little XML well-formedness checker for the report tests: every opened tag is closed in
 * order, attributes are quoted and unique, text and attribute values hold no raw `<` or bare `&`
 * (only the five predefined entities and numeric references). Enough for the SVG and HTML nls
 * writes; not a general parser.
 */

/** Options of {@link checkXml}. */
export interface XmlCheckOptions {
  /** HTML void elements that need no closing tag (e.g. `meta`). */
  readonly voidElements?: readonly string[];
}

/** One element as the checker saw it. */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
}

/** Problems found (empty when well-formed) and the elements seen, in document order. */
export interface XmlCheck {
  readonly problems: string[];
  readonly elements: XmlElement[];
}

const ENTITY = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/y;

function checkText(text: string, where: string, problems: string[]): void {
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '<') problems.push(`raw '<' in ${where}`);
    if (c === '&') {
      ENTITY.lastIndex = i;
      if (!ENTITY.test(text)) problems.push(`bare '&' in ${where}: ${JSON.stringify(text.slice(i, i + 12))}`);
    }
  }
}

/** Check `source`; see the module comment. */
export function checkXml(source: string, options: XmlCheckOptions = {}): XmlCheck {
  const voids = new Set(options.voidElements ?? []);
  const problems: string[] = [];
  const elements: XmlElement[] = [];
  const stack: string[] = [];
  let i = 0;
  while (i < source.length) {
    const lt = source.indexOf('<', i);
    const text = source.slice(i, lt < 0 ? source.length : lt);
    if (text.length > 0) {
      if (stack.length === 0 && text.trim() !== '') problems.push(`text outside the root: ${JSON.stringify(text.slice(0, 20))}`);
      checkText(text, `text of <${stack[stack.length - 1] ?? '(none)'}>`, problems);
    }
    if (lt < 0) break;
    if (source.startsWith('<!--', lt)) {
      const end = source.indexOf('-->', lt);
      if (end < 0) return { problems: [...problems, 'unterminated comment'], elements };
      i = end + 3;
      continue;
    }
    if (source.startsWith('<!', lt) || source.startsWith('<?', lt)) {
      const end = source.indexOf('>', lt);
      if (end < 0) return { problems: [...problems, 'unterminated declaration'], elements };
      i = end + 1;
      continue;
    }
    const end = source.indexOf('>', lt);
    if (end < 0) return { problems: [...problems, `unterminated tag at ${lt}`], elements };
    const tag = source.slice(lt + 1, end);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open ?? '(nothing)'}>`);
      i = end + 1;
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const m = /^([A-Za-z][\w:-]*)([\s\S]*)$/.exec(body);
    if (!m) {
      problems.push(`bad tag <${tag.slice(0, 20)}>`);
      i = end + 1;
      continue;
    }
    const name = m[1] as string;
    const rest = (m[2] as string).trim();
    const attrs: Record<string, string> = {};
    const attrRe = /([A-Za-z_:][\w:.-]*)="([^"]*)"/y;
    let j = 0;
    while (j < rest.length) {
      while (rest[j] === ' ' || rest[j] === '\n') j++;
      if (j >= rest.length) break;
      attrRe.lastIndex = j;
      const a = attrRe.exec(rest);
      if (!a) {
        problems.push(`bad attribute syntax in <${name}>: ${JSON.stringify(rest.slice(j, j + 30))}`);
        break;
      }
      const key = a[1] as string;
      if (key in attrs) problems.push(`attribute ${key} twice in <${name}>`);
      attrs[key] = a[2] as string;
      checkText(a[2] as string, `attribute ${key} of <${name}>`, problems);
      j = attrRe.lastIndex;
    }
    elements.push({ name, attrs });
    if (!selfClosing && !voids.has(name)) stack.push(name);
    i = end + 1;
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(' > ')}`);
  return { problems, elements };
}

/** Decode the predefined entities (for comparing text content). */
export function unescapeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39|apos);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", apos: "'" })[e] ?? '');
}
