/**
 * The human-readable part of a delivery report, in French and in English. It names the recipient,
 * what happened and what to do — never anything of the message itself: the gateway does not know
 * the subject or the patient (they are sealed), and a report must not leak them anyway.
 */
export type ReportAction = 'failed' | 'delayed' | 'delivered';

export interface ReportLine {
  recipient: string;
  action: ReportAction;
  diagnostic: string | null;
}

const FR: Record<ReportAction, { head: string; todo: string }> = {
  failed: {
    head: "Votre message sécurisé n'a pas pu être remis au destinataire suivant, malgré plusieurs tentatives :",
    todo: "Vérifiez l'adresse du destinataire dans l'annuaire santé, puis renvoyez le message. "
      + "Si le problème persiste, contactez l'administrateur de votre messagerie sécurisée.",
  },
  delayed: {
    head: "La remise de votre message sécurisé au destinataire suivant est retardée :",
    todo: "Aucune action n'est nécessaire pour l'instant : la passerelle continue d'essayer et vous préviendra "
      + "si le message ne peut finalement pas être remis.",
  },
  delivered: {
    head: 'Votre message sécurisé a été remis à la passerelle du destinataire suivant :',
    todo: 'Aucune action n\'est nécessaire.',
  },
};

const EN: Record<ReportAction, { head: string; todo: string }> = {
  failed: {
    head: 'Your secure message could not be delivered to the following recipient, despite repeated attempts:',
    todo: 'Check the recipient address in the health directory, then send the message again. '
      + 'If the problem persists, contact the administrator of your secure messaging service.',
  },
  delayed: {
    head: 'Delivery of your secure message to the following recipient is delayed:',
    todo: 'No action is needed yet: the gateway keeps trying and will tell you if the message finally cannot be delivered.',
  },
  delivered: {
    head: "Your secure message was delivered to the following recipient's gateway:",
    todo: 'No action is needed.',
  },
};

export function subjectOf(action: ReportAction): string {
  switch (action) {
    case 'failed': return 'Avis de non-remise / Delivery Status Notification (Failure)';
    case 'delayed': return 'Avis de retard de remise / Delivery Status Notification (Delay)';
    case 'delivered': return 'Avis de remise / Delivery Status Notification (Success)';
  }
}

export function humanText(line: ReportLine, queuedAt: string, messageId: string): string {
  const fr = FR[line.action];
  const en = EN[line.action];
  const diag = line.diagnostic ? line.diagnostic : null;
  return [
    '--- Français ---',
    '',
    fr.head,
    '',
    `    ${line.recipient}`,
    '',
    `Message déposé le : ${queuedAt}`,
    `Référence du message : ${messageId}`,
    ...(diag ? [`Dernière réponse du serveur distant : ${diag}`] : []),
    '',
    fr.todo,
    '',
    '--- English ---',
    '',
    en.head,
    '',
    `    ${line.recipient}`,
    '',
    `Message submitted on: ${queuedAt}`,
    `Message reference: ${messageId}`,
    ...(diag ? [`Last reply of the remote server: ${diag}`] : []),
    '',
    en.todo,
    '',
    'Le contenu du message reste chiffré et n\'est pas reproduit ici. / The message content stays encrypted and is not reproduced here.',
    '',
  ].join('\r\n');
}
