/** Stable error codes of patient identity extraction. Messages never carry patient data. */
export const XDM_ARCHIVE_INVALID = 'XDM_ARCHIVE_INVALID';
export const XDM_ARCHIVE_UNSAFE = 'XDM_ARCHIVE_UNSAFE';
export const XDM_ARCHIVE_TOO_LARGE = 'XDM_ARCHIVE_TOO_LARGE';
export const XDM_METADATA_INVALID = 'XDM_METADATA_INVALID';
