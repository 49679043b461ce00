/**
 * Resolves with the first SIGTERM or SIGINT. Call it before announcing readiness: a supervisor
 * (or a test) may signal the moment it reads "listening", and a signal that arrives before the
 * handler is installed kills the process instead of shutting it down gracefully.
 */
export function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
