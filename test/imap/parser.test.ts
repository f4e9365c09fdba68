import { describe, expect, it } from 'vitest';
import { CommandReader, type Frame } from '../../src/imap/parser/command-reader.js';
import { formatSequence, parseSequenceSet, sequenceSetContains } from '../../src/imap/parser/sequence-set.js';
import { parseSearch } from '../../src/imap/parser/search-parser.js';
import { ImapParseError } from '../../src/imap/errors.js';
import { parseCommand } from '../../src/imap/parser/tokenizer.js';
import { decodeMailboxName, encodeMailboxName } from '../../src/imap/utf7.js';

const limits = { maxLineLength: 100, maxLiteralSize: 50, appendLimit: 1000, maxCommandSize: 200 };

function reader(appendAllowed = true): { push(data: string | Buffer): void; frames: Frame[]; continuations: number } {
  const state = { frames: [] as Frame[], continuations: 0 };
  const r = new CommandReader(limits, {
    onFrame: (f) => state.frames.push(f),
    onContinuationNeeded: () => state.continuations++,
    appendAllowed: () => appendAllowed,
  });
  return {
    push: (data) => r.push(Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1')),
    get frames() {
      return state.frames;
    },
    get continuations() {
      return state.continuations;
    },
  };
}

describe('command reader', () => {
  it('frames commands split across packets, with synchronising and non-synchronising literals', () => {
    const r = reader();
    r.push('a1 NO');
    r.push('OP\r\na2 APPEND INBOX {5}\r');
    r.push('\nhe');
    expect(r.continuations).toBe(1);
    r.push(Buffer.from([0x00, 0xff, 0x0a]));
    r.push('\r\na3 LOGIN {3+}\r\nbob "pw"\r\n');
    expect(r.frames.map((f) => f.type)).toEqual(['command', 'command', 'command']);
    const append = r.frames[1];
    if (append?.type !== 'command') throw new Error('expected command');
    expect(append.parts.map((p) => p.kind)).toEqual(['text', 'literal', 'text']);
    expect(append.parts[1]?.data).toEqual(Buffer.from([0x68, 0x65, 0x00, 0xff, 0x0a]));
    expect(r.continuations).toBe(1);
  });

  it('refuses over-long lines and oversized literals with error frames', () => {
    const r = reader();
    r.push('t1 NOOP ' + 'x'.repeat(150));
    r.push('yyy\r\nt2 NOOP\r\n');
    r.push('t3 APPEND INBOX {1001}\r\n');
    r.push('t4 LOGIN {51}\r\n');
    r.push('t5 NOOP\r\n');
    expect(r.frames.map((f) => (f.type === 'error' ? `${f.tag} ${f.status} ${f.code}` : 'command'))).toEqual([
      't1 BAD TOOBIG',
      'command',
      't3 NO TOOBIG',
      't4 BAD TOOBIG',
      'command',
    ]);
    expect(r.continuations).toBe(0);
  });

  it('applies the small literal limit to APPEND before login', () => {
    const r = reader(false);
    r.push('a APPEND INBOX {100}\r\n');
    expect(r.frames[0]).toMatchObject({ type: 'error', tag: 'a', code: 'TOOBIG' });
  });

  it('closes on an oversized non-synchronising literal', () => {
    const r = reader();
    r.push('n1 APPEND INBOX {5000+}\r\nabc');
    expect(r.frames[0]).toMatchObject({ type: 'error', fatal: true });
    r.push('n2 NOOP\r\n');
    expect(r.frames).toHaveLength(1);
  });
});

describe('tokenizer', () => {
  const parse = (text: string) => parseCommand([{ kind: 'text', data: Buffer.from(text, 'latin1') }], 4);

  it('parses atoms, quoted strings with escapes, NIL and nested lists', () => {
    const cmd = parse('x1 login "us\\"er" "p\\\\w"');
    expect(cmd.tag).toBe('x1');
    expect(cmd.name).toBe('LOGIN');
    expect(cmd.args.map((a) => (a.type === 'string' ? a.value.toString() : ''))).toEqual(['us"er', 'p\\w']);
    const list = parse('x2 STORE 1:* +FLAGS (\\Seen (a b) NIL)');
    expect(list.args[2]).toEqual({
      type: 'list',
      items: [{ type: 'atom', value: '\\Seen' }, { type: 'list', items: [{ type: 'atom', value: 'a' }, { type: 'atom', value: 'b' }] }, { type: 'atom', value: 'NIL' }],
    });
  });

  it('parses fetch sections with header lists and partials', () => {
    const cmd = parse('x3 FETCH 1 (BODY.PEEK[1.2.HEADER.FIELDS (From "To")]<10.20> BINARY[3] RFC822.SIZE)');
    const items = cmd.args[1];
    if (items?.type !== 'list') throw new Error('expected list');
    expect(items.items[0]).toEqual({ type: 'atom', value: 'BODY.PEEK', section: { spec: '1.2.HEADER.FIELDS', fields: ['FROM', 'TO'] }, partial: { start: 10, length: 20 } });
    expect(items.items[1]).toEqual({ type: 'atom', value: 'BINARY', section: { spec: '3' } });
  });

  it('takes literals from the following frame part', () => {
    const cmd = parseCommand(
      [
        { kind: 'text', data: Buffer.from('x4 APPEND {3}') },
        { kind: 'literal', data: Buffer.from('bob') },
        { kind: 'text', data: Buffer.from(' ~{2}') },
        { kind: 'literal', data: Buffer.from([0, 1]) },
        { kind: 'text', data: Buffer.from('') },
      ],
      4,
    );
    expect(cmd.args).toEqual([
      { type: 'string', value: Buffer.from('bob'), literal: true },
      { type: 'string', value: Buffer.from([0, 1]), literal: true },
    ]);
  });

  it('reads atoms starting with ~ as atoms, not literal8 (RFC 3501 ATOM-CHAR)', () => {
    expect(parse('x20 LIST "" ~foo').args[1]).toEqual({ type: 'atom', value: '~foo' });
    expect(parse('x21 SELECT ~').args).toEqual([{ type: 'atom', value: '~' }]);
    expect(parse('x22 LIST "" (~a ~b/%)').args[1]).toEqual({ type: 'list', items: [{ type: 'atom', value: '~a' }, { type: 'atom', value: '~b/%' }] });
    // `~{` is not an atom: it can only start a literal8.
    expect(() => parse('x23 LIST "" ~{abc}')).toThrow(ImapParseError);
  });

  it('accepts literal8 only as the APPEND message (RFC 3516)', () => {
    const withLiteral8 = (head: string, tail = '') =>
      parseCommand(
        [
          { kind: 'text', data: Buffer.from(head) },
          { kind: 'literal', data: Buffer.from([0, 1, 2]) },
          { kind: 'text', data: Buffer.from(tail) },
        ],
        4,
      );
    expect(withLiteral8('x24 APPEND INBOX (\\Seen) ~{3}').args[2]).toEqual({ type: 'string', value: Buffer.from([0, 1, 2]), literal: true });
    expect(withLiteral8('x25 APPEND INBOX ~{3+}').args[1]).toEqual({ type: 'string', value: Buffer.from([0, 1, 2]), literal: true });
    for (const [head, tail] of [
      ['x26 LOGIN ~{3}', ' pw'],
      ['x27 SELECT ~{3}', ''],
      ['x28 APPEND ~{3}', ' {3}'],
      ['x29 APPEND INBOX (~{3}', ')'],
      ['x30 SEARCH TEXT ~{3}', ''],
    ] as const) {
      expect(() => withLiteral8(head, tail), head).toThrow(ImapParseError);
    }
  });

  it('never throws anything but a parse error, whatever the reader frames (seeded garbage)', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pieces = ['~', '{', '}', '{3}', '~{2}', '~{1+}', '{0}', '+', '(', ')', '[', ']', '<', '>', '"', '\\', ' ', '\r\n', '\n', 'APPEND', 'LIST', 'BODY[', 'x', '1', '%', '*', '\x00', '\xff'];
    let frames = 0;
    for (let round = 0; round < 400; round++) {
      const r = new CommandReader(limits, {
        onFrame: (frame) => {
          frames++;
          if (frame.type !== 'command') return;
          try {
            parseCommand(frame.parts, 4);
          } catch (err) {
            expect(err).toBeInstanceOf(ImapParseError);
          }
        },
        onContinuationNeeded: () => undefined,
        appendAllowed: () => true,
      });
      const text = 't' + round + ' ' + Array.from({ length: 1 + random(12) }, () => pieces[random(pieces.length)]).join('');
      const bytes = Buffer.from(text + '\r\n', 'latin1');
      // Split at random points: framing must not depend on packet boundaries.
      for (let offset = 0; offset < bytes.length; ) {
        const size = 1 + random(8);
        expect(() => r.push(bytes.subarray(offset, offset + size))).not.toThrow();
        offset += size;
      }
    }
    expect(frames).toBeGreaterThan(300);
  });

  it('rejects malformed input with parse errors', () => {
    for (const bad of ['', 'x5', 'x6 ', 'x7 FETCH (', 'x8 FETCH "abc', 'x9 FETCH ((((((1))))))', 'x10 A "\\q"', 'x11 FETCH BODY[1', 'x12 FETCH BODY[]<1.', '+ NOOP']) {
      expect(() => parse(bad), bad).toThrow();
    }
  });
});

describe('sequence sets, search and UTF-7', () => {
  it('resolves * and ranges in either order', () => {
    const set = parseSequenceSet('1,3:4,10:*');
    expect([1, 2, 3, 4, 5, 9, 10, 12].map((n) => sequenceSetContains(set, n, 12))).toEqual([true, false, true, true, false, false, true, true]);
    expect(sequenceSetContains(parseSequenceSet('5:2'), 3, 9)).toBe(true);
    expect(sequenceSetContains(parseSequenceSet('20:*'), 12, 12)).toBe(true);
    expect(() => parseSequenceSet('0')).toThrow();
    expect(() => parseSequenceSet('1,,2')).toThrow();
    expect(formatSequence([1, 2, 3, 7, 9, 10])).toBe('1:3,7,9:10');
  });

  it('parses OR/NOT/groups and sequence sets in SEARCH', () => {
    const args = parseCommand([{ kind: 'text', data: Buffer.from('s SEARCH CHARSET UTF-8 OR (FROM a SEEN) NOT 1:3 UID 5:* LARGER 10') }], 8).args;
    const request = parseSearch(args);
    expect(request.charset).toBe('UTF-8');
    expect(request.query).toEqual({
      op: 'and',
      nodes: [
        { op: 'or', left: { op: 'and', nodes: [{ op: 'header', field: 'from', value: 'a' }, { op: 'flag', flag: '\\Seen', present: true }] }, right: { op: 'not', node: { op: 'seq', set: [[1, 3]] } } },
        { op: 'uid', set: [[5, '*']] },
        { op: 'size', larger: true, value: 10 },
      ],
    });
  });

  it('encodes mailbox names in modified UTF-7 (RFC 3501 §5.1.3)', () => {
    expect(encodeMailboxName('Patients/Élise & Zoé')).toBe('Patients/&AMk-lise &- Zo&AOk-');
    expect(encodeMailboxName('日本語')).toBe('&ZeVnLIqe-');
    expect(decodeMailboxName('&ZeVnLIqe-/&AMk-lise &- x')).toBe('日本語/Élise & x');
    expect(decodeMailboxName(encodeMailboxName('a/b~c😀'))).toBe('a/b~c😀');
  });
});
