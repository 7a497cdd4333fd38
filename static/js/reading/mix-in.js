// MammoRead reading screen: how a class is put together from topic modules. The screen
// (screen.js) and the side panel (side-panel.js) each keep their state and their lifecycle in
// one class and take their other methods from modules of this folder, one topic each; a topic
// module exports a plain object of methods that use `this` as the class's own would.

/** Adds each part's methods to `Class`. A name defined twice is a mistake, never an override. */
export function mixIn(Class, ...parts) {
  for (const part of parts) {
    for (const name of Object.keys(part)) {
      if (name in Class.prototype) throw new Error(`${Class.name}.${name} is defined twice`);
      Object.defineProperty(Class.prototype, name, { value: part[name], writable: true, configurable: true });
    }
  }
}
