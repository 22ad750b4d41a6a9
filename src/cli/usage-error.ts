/** A mistake in how the command was called: reported without a stack trace, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
