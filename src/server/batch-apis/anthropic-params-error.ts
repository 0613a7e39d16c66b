/** A request of a Message Batch that Anthropic would refuse; `message` names the field path. */
export class ParamsError extends Error {}
