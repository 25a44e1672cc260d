#include <iostream>

#include "ctl.h"

int main(int argc, char** argv) { return tinykv::ctl::RunCtl(argc, argv, std::cout, std::cerr); }
