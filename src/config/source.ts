import type { Config } from './schema.js';
import { configFromEnv, loadConfigFile, type LoadOptions } from './load.js';

/** Where the config comes from: a file, or the environment alone (config.md). */
export function loadConfig(path: string | undefined, options: LoadOptions = {}): Promise<Config> {
  return path ? loadConfigFile(path, options) : configFromEnv(options);
}
