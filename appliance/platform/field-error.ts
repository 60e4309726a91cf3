/** Input a person can fix, naming the form field to fix: a page shows the message beside it. */
export class FieldError<F extends string = string> extends Error {
  override name = 'FieldError'
  constructor(
    readonly field: F,
    message: string,
  ) {
    super(message)
  }
}
