// Every kernel family; importing this registers them all.
import "./elementwise/index.js";
import "./unary/index.js";
import "./movement/index.js";
import "./reduce/index.js";
import "./norm/index.js";
import "./matmul/index.js";
import "./conv/index.js";
import "./pool/index.js";
import "./resize/index.js";
import "./attention/index.js";
import "./loss/index.js";
import "./quant/index.js";
import "./signal/index.js";
import "./conv/depthwise-nhwc.js";
import "./fused/index.js";
