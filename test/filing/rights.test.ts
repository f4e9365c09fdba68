import { describe, expect, it } from 'vitest';
import { checkRights, checkRightsAll, type SenderForRights } from '../../src/filing/index.js';

const person = (address: string, specialtyCode: string | null, specialtyLabel: string | null, professionCode = '10'): SenderForRights =>
  ({ address, mailboxType: 'PER', professionCode, specialtyCode, specialtyLabel });

const GP = person('paul.demo@cabinet-antony.medgate.test', 'SM54', 'Médecine générale');
const BIO = person('anne.biologiste@labo-biotest.medgate.test', 'SM05', 'Biologie médicale');
const RADIO = person('marc.radio@imagerie-bourg.medgate.test', 'SM44', 'Radio-diagnostic et imagerie médicale');
const CARDIO = person('claire.martin@cardio-sceaux.medgate.test', 'SM04', 'Cardiologie et maladies vasculaires');
const NURSE = person('sophie.infirmiere@soins-antony.medgate.test', null, null, '60');
const APP: SenderForRights = { address: 'lgc@labo.medgate.test', mailboxType: 'APP', professionCode: null, specialtyCode: null, specialtyLabel: null };

describe('rights matrix', () => {
  it('default: a GP may not send biology; a biologist may; a radiologist imaging; any doctor reports, letters, prescriptions, summary', () => {
    const refused = checkRights(GP, 'biology');
    expect(refused.ok).toBe(false);
    expect(refused).toMatchObject({ role: 'general-practitioner' });
    if (!refused.ok) {
      expect(refused.reason).toBe("a general practitioner cannot author a biology report in a shared record; forward the laboratory's own report instead " +
        '(its HPRIM file, its IHE_XDM.ZIP, or its signed message attached as is): it is filed under the laboratory');
    }
    const imaging = checkRights(GP, 'imaging');
    // "an imaging report", not "a imaging document"; and what to do instead.
    if (!imaging.ok) expect(imaging.reason).toMatch(/^a general practitioner cannot author an imaging report in a shared record; forward the radiologist's own report instead/);
    const nurse = checkRights(NURSE, 'operative-report');
    if (!nurse.ok) expect(nurse.reason).toMatch(/^a nurse cannot author an operative report in a shared record; ask a professional who may author it to send it/);
    expect(checkRights(GP, 'pathology-report').ok).toBe(false);
    expect(checkRights(CARDIO, 'pathology-report').ok).toBe(true);
    for (const t of ['exam-report', 'certificate']) for (const doctor of [GP, CARDIO]) expect(checkRights(doctor, t).ok).toBe(true);
    expect(checkRights(BIO, 'biology')).toEqual({ ok: true, role: 'biologist' });
    expect(checkRights(RADIO, 'imaging').ok).toBe(true);
    expect(checkRights(GP, 'imaging').ok).toBe(false);
    expect(checkRights(RADIO, 'biology').ok).toBe(false);
    for (const t of ['summary', 'consultation-report', 'hospital-report', 'operative-report', 'prescription', 'letter']) {
      for (const doctor of [GP, BIO, RADIO, CARDIO]) expect(checkRights(doctor, t).ok, `${doctor.address} ${t}`).toBe(true);
    }
    expect(checkRights(NURSE, 'summary').ok).toBe(false);
    expect(checkRights(NURSE, 'letter').ok).toBe(true);
    expect(checkRights(GP, 'nonsense').ok).toBe(false);
  });

  it('applications follow their configured role; unconfigured ones may only send letters', () => {
    expect(checkRights(APP, 'biology').ok).toBe(false);
    expect(checkRights(APP, 'letter').ok).toBe(true);
    const config = { senders: { 'lgc@labo.medgate.test': 'biologist' } };
    expect(checkRights(APP, 'biology', config)).toEqual({ ok: true, role: 'biologist' });
  });

  it('a configured row replaces the default for that role only', () => {
    const config = { rights: { 'general-practitioner': ['letter'] } };
    expect(checkRights(GP, 'summary', config).ok).toBe(false);
    expect(checkRights(GP, 'letter', config).ok).toBe(true);
    expect(checkRights(CARDIO, 'summary', config).ok).toBe(true);
  });

  it('checks every document of a message', () => {
    expect(checkRightsAll(GP, ['letter', 'biology']).ok).toBe(false);
    expect(checkRightsAll(BIO, ['letter', 'biology']).ok).toBe(true);
  });
});
