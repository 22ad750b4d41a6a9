#!/usr/bin/env node
process.stdout.write('mtuscope: usage: mtuscope <command>\n');
