import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DirectoryErrorCode } from '../../src/directory/errors.js';
import { isValidDomainName, parseWhitelist, WHITELIST_NAMESPACE } from '../../src/directory/whitelist.js';

const SAMPLE = readFileSync(new URL('../../../shared/samples/liste-blanche.xml', import.meta.url), 'utf8');

function list(body: string, rootAttrs = `xmlns="${WHITELIST_NAMESPACE}"`): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ListeBlanche ${rootAttrs}>${body}</ListeBlanche>`;
}

describe('parseWhitelist', () => {
  it('reads the shared sample: 5 domains in document order', () => {
    expect(parseWhitelist(SAMPLE)).toEqual([
      'cabinet-antony.medgate.test',
      'cardio-sceaux.medgate.test',
      'labo-biotest.medgate.test',
      'rmp-hdf.medgate.test',
      'imagerie-bourg.medgate.test',
    ]);
  });

  it('is deterministic', () => {
    expect(parseWhitelist(SAMPLE)).toEqual(parseWhitelist(SAMPLE));
  });

  it('reads prefixed elements, lower-cases, trims and deduplicates', () => {
    const xml = `<?xml version="1.0"?>
<lb:ListeBlanche xmlns:lb="${WHITELIST_NAMESPACE}">
  <lb:Domaine><lb:Nom> Operateur.Example.FR </lb:Nom></lb:Domaine>
  <lb:Domaine><lb:Nom>operateur.example.fr</lb:Nom></lb:Domaine>
  <lb:Domaine><lb:Nom>autre.example.fr.</lb:Nom></lb:Domaine>
</lb:ListeBlanche>`;
    expect(parseWhitelist(xml)).toEqual(['operateur.example.fr', 'autre.example.fr']);
  });

  it('reads a single domain, a BOM, CRLF, comments and extra elements', () => {
    const xml = '\uFEFF' + list('\r\n<!-- one -->\r\n<Domaine><Operateur>X</Operateur><Nom>seul.example.fr</Nom></Domaine>\r\n<Version>3</Version>\r\n');
    expect(parseWhitelist(xml)).toEqual(['seul.example.fr']);
  });

  it('tolerates a document without namespace', () => {
    expect(parseWhitelist(list('<Domaine><Nom>a.example.fr</Nom></Domaine>', ''))).toEqual(['a.example.fr']);
  });

  it('ignores Domaine/Nom elements of another namespace', () => {
    const xml = list(`<o:Domaine xmlns:o="urn:other"><o:Nom>other.example.fr</o:Nom></o:Domaine><Domaine><Nom>mine.example.fr</Nom></Domaine>`);
    expect(parseWhitelist(xml)).toEqual(['mine.example.fr']);
    expect(() => parseWhitelist(list('<Domaine><Nom>a.example.fr</Nom></Domaine>', 'xmlns="urn:other"'))).toThrow(
      expect.objectContaining({ code: DirectoryErrorCode.WhitelistNoDomain }),
    );
  });

  it('ignores a Nom that is not inside a Domaine', () => {
    expect(() => parseWhitelist(list('<Nom>a.example.fr</Nom>'))).toThrow(expect.objectContaining({ code: DirectoryErrorCode.WhitelistNoDomain }));
  });

  it('refuses invalid XML with a typed error', () => {
    for (const xml of ['', 'not xml', list('<Domaine><Nom>a.example.fr</Domaine>'), '<a><b></a>']) {
      expect(() => parseWhitelist(xml)).toThrow(expect.objectContaining({ code: DirectoryErrorCode.WhitelistInvalidXml }));
    }
  });

  it('refuses a DOCTYPE (entity expansion)', () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">]>${list('<Domaine><Nom>&a;.fr</Nom></Domaine>')}`;
    expect(() => parseWhitelist(xml)).toThrow(expect.objectContaining({ code: DirectoryErrorCode.WhitelistInvalidXml, message: expect.stringMatching(/DOCTYPE/) }));
  });

  it('refuses a whitelist with no domain', () => {
    expect(() => parseWhitelist(list(''))).toThrow(expect.objectContaining({ code: DirectoryErrorCode.WhitelistNoDomain }));
  });

  it('refuses an invalid domain, naming it', () => {
    for (const bad of ['', 'localhost', 'bad domain.fr', '-x.example.fr', 'x_y.example.fr', '1.2.3.4', `${'a'.repeat(64)}.fr`]) {
      expect(() => parseWhitelist(list(`<Domaine><Nom>ok.example.fr</Nom></Domaine><Domaine><Nom>${bad}</Nom></Domaine>`))).toThrow(
        expect.objectContaining({ code: DirectoryErrorCode.WhitelistInvalidDomain, details: { domain: bad } }),
      );
    }
  });
});

describe('isValidDomainName', () => {
  it('accepts host names and punycode', () => {
    for (const ok of ['a.fr', 'xn--hpital-dva.fr', 'sub-1.example.medgate.test', `${'a'.repeat(63)}.fr`]) expect(isValidDomainName(ok)).toBe(true);
  });
  it('rejects the rest', () => {
    for (const bad of ['fr', 'a..fr', 'a.fr.', 'A.FR', 'a-.fr', `${'a.'.repeat(127)}fr`]) expect(isValidDomainName(bad)).toBe(false);
  });
});
