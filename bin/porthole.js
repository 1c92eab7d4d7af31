#!/usr/bin/env node
import "../dist/porthole.js";
