import { XMLParser } from 'fast-xml-parser';

/**
 * The one way identity/ parses the XML that arrives in archives (METADATA.XML, CDA headers):
 * attributes kept as `@_name`, namespace prefixes dropped, every value left as written (no number
 * or entity conversion), `isArray` naming the elements read as lists even when alone.
 */
export function identityXmlParser(isArray: (name: string) => boolean): XMLParser {
  return new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    removeNSPrefix: true,
    parseTagValue: false,
    parseAttributeValue: false,
    htmlEntities: false,
    isArray,
  });
}
