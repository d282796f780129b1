import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

/** Secrets never reach a log line, wherever they sit in the logged object. */
export const REDACTED_PATHS = [
    'apiKey',
    '*.apiKey',
    '*.*.apiKey',
    'webhookSigningKey',
    '*.webhookSigningKey',
    '*.*.webhookSigningKey',
    'signingKey',
    '*.signingKey',
    'token',
    '*.token',
    'authorization',
    '*.authorization',
    'headers.authorization',
    '*.headers.authorization',
    'headers["x-nango-hmac-sha256"]',
    'headers["x-nango-signature"]',
];

export function createLogger(level: LevelWithSilent = 'info', destination?: DestinationStream): Logger {
    return pino(
        {
            name: 'nango-mirror',
            level,
            redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
            base: { pid: process.pid },
        },
        destination,
    );
}
