// A minimal typed event emitter for engine objects: the event names and payloads are part of
// each class's type, so a misspelt event or a wrong handler signature fails to compile.
// (Node's EventEmitter would work, but its typings are loose on the Node 20 types we target.)

type Handler<A extends unknown[]> = (...args: A) => void;

export class TypedEmitter<Events extends { [K in keyof Events]: unknown[] }> {
  #handlers = new Map<keyof Events, Set<Handler<never[]>>>();

  on<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void {
    let set = this.#handlers.get(event);
    if (!set) {
      set = new Set();
      this.#handlers.set(event, set);
    }
    set.add(handler as unknown as Handler<never[]>);
    return () => this.off(event, handler);
  }

  once<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void {
    const off = this.on(event, (...args) => {
      off();
      handler(...args);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, handler: Handler<Events[K]>): void {
    this.#handlers.get(event)?.delete(handler as unknown as Handler<never[]>);
  }

  /** Handlers run synchronously; one that throws is reported and does not stop the others. */
  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    const set = this.#handlers.get(event);
    if (!set) return;
    for (const h of [...set]) {
      try {
        (h as unknown as Handler<Events[K]>)(...args);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  protected listenerCount<K extends keyof Events>(event: K): number {
    return this.#handlers.get(event)?.size ?? 0;
  }
}
