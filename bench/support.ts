/** The environment of a benchmarked server: loopback, quiet logs, every rate limit out of the way. */
export function benchEnv(port: number, dataDir: string): Record<string, string> {
  const unlimited = '100000000';
  return {
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    ISSUER: `http://127.0.0.1:${port}`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_TOKEN_PER_CLIENT: unlimited,
    RATE_LIMIT_TOKEN_PER_IP: unlimited,
    RATE_LIMIT_ADMIN_PER_KEY: unlimited,
    RATE_LIMIT_AUTHORIZE_PER_IP: unlimited,
    RATE_LIMIT_LOGIN_PER_IP: unlimited,
    RATE_LIMIT_LOGIN_PER_ACCOUNT: unlimited,
  };
}
