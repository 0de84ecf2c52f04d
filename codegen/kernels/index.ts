// Every kernel family; importing this registers them all.
import "./elementwise.js";
import "./unary.js";
import "./movement.js";
import "./reduce.js";
import "./norm.js";
import "./matmul.js";
import "./conv.js";
import "./pool.js";
import "./resize.js";
import "./attention.js";
import "./loss.js";
import "./quant.js";
import "./signal.js";
import "./conv-depthwise-nhwc.js";
import "./fused.js";
