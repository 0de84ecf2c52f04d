// Elementwise kernels with numpy broadcasting, one file per family; importing this registers them.
import "./arith.js";
import "./logic.js";
import "./pow.js";
import "./cast.js";
import "./gated.js";
