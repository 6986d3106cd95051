import { describe, expect, it } from 'vitest';
import {
  DEMO_DOMAINS,
  type DomainDocument,
  documentConversations,
  documentSplit,
  emailBody,
  readDomainDocuments,
  splitConversations,
} from './demo-domains.js';

describe('demo domains', () => {
  it('reads real text of each domain from its npm package', () => {
    const [first] = readDomainDocuments('moby-dick');
    expect(first!.text.startsWith('Call me Ishmael.')).toBe(true);
    expect(readDomainDocuments('moby-dick')).toHaveLength(135);
    const addresses = readDomainDocuments('sotu');
    expect(addresses.length).toBeGreaterThan(200);
    expect(addresses.find((d) => d.id === 'sotu/1790-george-washington-n')!.title).toBe(
      "George Washington's 1790 State of the Union address",
    );
    const emails = readDomainDocuments('email');
    expect(emails.length).toBeGreaterThan(1000);
    for (const email of emails.slice(0, 200)) {
      expect(email.text).not.toMatch(/^(From|Received|Return-Path):/);
      expect(email.text).not.toMatch(/https?:|<html/i);
    }
  });

  it('splits by document, deterministically, into four disjoint parts of the expected sizes', () => {
    for (const domain of DEMO_DOMAINS) {
      const documents = readDomainDocuments(domain);
      const counts = { specialist: 0, fusion: 0, validation: 0, test: 0 };
      for (const document of documents) counts[documentSplit(document.id)]++;
      for (const split of ['fusion', 'validation', 'test'] as const) {
        expect(counts[split]).toBeGreaterThan(0.03 * documents.length);
        expect(counts[split]).toBeLessThan(0.14 * documents.length);
      }
      expect(counts.specialist).toBeGreaterThan(0.6 * documents.length);
    }
    expect(documentSplit('moby-dick/chapter-1')).toBe(documentSplit('moby-dick/chapter-1'));
    // Conversations name their document: no test conversation comes from a fusion or specialist document.
    const documentOf = (id: string) => id.split('/').slice(0, -1).join('/');
    const test = new Set(splitConversations('moby-dick', 'test').map((c) => documentOf(c.id)));
    const fusion = new Set(splitConversations('moby-dick', 'fusion').map((c) => documentOf(c.id)));
    expect([...test].some((id) => fusion.has(id))).toBe(false);
    for (const id of test) expect(documentSplit(id)).toBe('test');
  });

  it('cuts a document into consecutive opening/continuation pairs that reproduce its text', () => {
    const document: DomainDocument = {
      domain: 'moby-dick',
      id: 'moby-dick/example',
      title: 'Moby-Dick',
      text: 'One two three. Four five six! Seven eight nine? Ten eleven. Twelve thirteen. Tail.',
    };
    const conversations = documentConversations(document, {
      openingCharacters: 10,
      continuationCharacters: 20,
    });
    expect(conversations.map((c) => [c.prompt, c.response])).toEqual([
      ['Continue this passage from Moby-Dick:\nOne two three.', 'Four five six! Seven eight nine?'],
      ['Continue this passage from Moby-Dick:\nTen eleven.', 'Twelve thirteen. Tail.'],
    ]);
    expect(conversations.map((c) => c.id)).toEqual(['moby-dick/example/0', 'moby-dick/example/1']);
  });

  it('a limited sample is seeded, stable and spread over documents', () => {
    const a = splitConversations('sotu', 'test', { limit: 20, seed: 3 });
    const b = splitConversations('sotu', 'test', { limit: 20, seed: 3 });
    expect(a).toEqual(b);
    expect(a).toHaveLength(20);
    expect(new Set(a.map((c) => c.id.split('/')[1])).size).toBeGreaterThan(10);
    expect(splitConversations('sotu', 'test', { limit: 20, seed: 4 })).not.toEqual(a);
  });

  it('keeps the prose of an email and drops headers, quotes, signatures, links and HTML', () => {
    const body = [
      'Dear list, I tried the new release of the mail client yesterday and it works well for me.',
      'The sequences window now opens quickly, and the folder list is much easier to read than before.',
      'Thanks to everyone who sent patches for it over the last few weeks; it was worth the wait.',
    ];
    const raw = [
      'From someone@example.com  Thu Aug 22 12:36:23 2002',
      'Subject: Re: New release',
      '',
      'Robert wrote:',
      '> the old one was slow',
      ...body,
      'See http://example.com/release for details.',
      '-- ',
      'Robert, who signs every mail',
    ].join('\n');
    expect(emailBody(raw)).toBe(body.join(' '));
    expect(
      emailBody(`Content-Type: text/html\n\n<html><body>${body.join(' ')}</body></html>`),
    ).toBeUndefined();
    expect(emailBody(`Subject: short\n\nToo short to learn from.`)).toBeUndefined();
    expect(emailBody('no blank line, so no body')).toBeUndefined();
  });
});
