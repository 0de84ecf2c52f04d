// Every family of shape rules; importing this registers them all.
import "./elementwise.js";
import "./unary.js";
import "./movement.js";
import "./reduce.js";
import "./norm.js";
import "./nn.js";
import "./attention.js";
import "./loss.js";
import "./quant.js";
import "./signal.js";
import "./layout.js";
