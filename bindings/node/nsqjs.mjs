// ESM entry point of the nsqjs facade.
import nsqjs from './nsqjs.js';

export const { Reader, Writer, Message } = nsqjs;
export default nsqjs;
