/**
 * Names Nango accepts for an integration, a model and a variant (protocol §4.1): the config, the
 * admin API and discovery check against these, so a name the mirror stores is one `GET /records` takes.
 */
export const PROVIDER_CONFIG_KEY_PATTERN = /^[a-zA-Z0-9~:.@ _-]+$/;
export const MODEL_NAME_PATTERN = /^[A-Z][a-zA-Z0-9_-]+$/;
export const VARIANT_NAME_PATTERN = /^[a-zA-Z0-9_-]+$/;
/** Every name is at most this long in Nango's own validation. */
export const NANGO_NAME_MAX_LENGTH = 255;
