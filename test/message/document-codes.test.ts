import { expect, it } from 'vitest';
import { TYPE_CODES, typeCodeOf } from '../../src/message/identity/document-codes.js';

it('a type name from outside that is not a document type gets the codes of `other`, never an Object member', () => {
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', '', undefined, 'biologie']) {
    expect(typeCodeOf(name)).toEqual(TYPE_CODES.other);
  }
  expect(typeCodeOf('biology')).toEqual({ code: '11502-2', displayName: 'CR d\'examens biologiques' });
});
