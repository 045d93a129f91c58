// SPDX-License-Identifier: MIT
// A 6-decimal ERC-20 standing in for USDT in tests: OpenZeppelin Contracts 5.1.0 `ERC20`, unchanged.
// Compiled with solc 0.8.28 (optimizer on, 200 runs, evmVersion shanghai); the bytecode and ABI
// shipped beside this file in TestUSDT.json come from wcx/testing/data/compile_test_usdt.sh.
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

contract TestUSDT is ERC20 {
    constructor(uint256 supply) ERC20("Tether USD (test)", "USDT") {
        _mint(msg.sender, supply);
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
