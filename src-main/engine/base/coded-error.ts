// The one shape of a typed failure: a `code` that callers switch on (and hosts turn into the
// right words for the user), a message for people, and the class's own name, so each error
// class states only its code and what it carries.
export class CodedError<C extends string> extends Error {
  constructor(
    readonly code: C,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
