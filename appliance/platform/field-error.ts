/** Input a person can fix, naming the form field to fix: a page shows the message beside it. */
export class FieldError<F extends string = string> extends Error {
  override name = 'FieldError'
  constructor(
    readonly field: F,
    message: string,
    /** The value is fine but taken (a name in use): 409 rather than 400. */
    readonly conflict = false,
  ) {
    super(message)
  }
}
