import { InvalidInputError } from '@fusechat/core';

/**
 * The API key in the environment variable `--api-key-env NAME` names (trimmed), for `capture
 * --endpoint` and `serve`; undefined without the option. The value is never printed or logged.
 *
 * @throws InvalidInputError `CLI_API_KEY_ENV_UNSET` when the variable is unset or blank.
 */
export function readApiKeyEnv(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const value = process.env[name]?.trim();
  if (value === undefined || value === '') {
    throw new InvalidInputError(
      `--api-key-env ${name}: the environment variable ${name} is not set or empty.`,
      { code: 'CLI_API_KEY_ENV_UNSET', field: 'api-key-env' },
    );
  }
  return value;
}
