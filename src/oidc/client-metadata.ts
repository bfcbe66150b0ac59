/** Tessera's own client metadata, beside the standard fields: read back from the provider's Client instances. */
export const THIRD_PARTY = 'tessera_third_party';
export const ORG_IDS = 'tessera_org_ids';
