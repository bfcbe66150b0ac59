/** Interaction pages are Tessera's own; this is where the provider sends the browser. */
export const INTERACTION_PATH = '/interaction';
export const OIDC_PATH = '/oidc';
