// Typings for the part of comedy (https://github.com/untu/comedy) the gateway uses; its own index.d.ts is
// written for CommonJS `export function` and does not describe the default export.
declare module 'comedy' {
  export interface ComedyActorRef {
    getId(): string;
    sendAndReceive(topic: string, ...message: unknown[]): Promise<unknown>;
    send(topic: string, ...message: unknown[]): Promise<void>;
    destroy(): Promise<void>;
    getCustomParameters(): unknown;
  }
  export interface ComedyActor extends ComedyActorRef {
    createChild(definition: new () => object, options?: Record<string, unknown>): Promise<ComedyActorRef>;
  }
  export interface ComedyLogger {
    error(...m: unknown[]): void;
    warn(...m: unknown[]): void;
    info(...m: unknown[]): void;
    debug(...m: unknown[]): void;
  }
  export interface ComedySystem {
    rootActor(): Promise<ComedyActor>;
    destroy(): Promise<void>;
    sigintHandler: (...args: unknown[]) => void;
    sigtermHandler: (...args: unknown[]) => void;
  }
  function createSystem(options: {
    config?: Record<string, unknown>;
    logger?: ComedyLogger;
    test?: boolean;
  }): ComedySystem;
  export default createSystem;
}
