"""Why the supermarket refuses. Each code is stable: tills switch on it. The titles are
what a cashier reads (Chinese first, English for integrators)."""

from __future__ import annotations

from jifen.problems import Problem


class GoodsNotInCatalog(Problem):
    code = "goods_not_in_catalog"
    title = "商品不在本村目录中 / The good is not in this village's catalog"
    title_zh = "商品不在本村目录中"
    status = 422


class GoodsInactive(Problem):
    code = "goods_inactive"
    title = "商品已下架 / The good is no longer sold"
    title_zh = "商品已下架"
    status = 409


class BarcodeTaken(Problem):
    code = "barcode_taken"
    title = "条码已被其他商品使用 / Another good has this barcode"
    title_zh = "条码已被其他商品使用"
    status = 409


class BasketInvalid(Problem):
    code = "basket_invalid"
    title = "购物篮有误 / The basket is not valid"
    title_zh = "购物篮有误"
    status = 422


class PriceChanged(Problem):
    code = "price_changed"
    title = "价格已变动，请核对后重新兑换 / Prices changed since the basket was made"
    title_zh = "价格已变动，请核对后重新兑换"
    status = 409


class BalanceInDebt(Problem):
    code = "balance_in_debt"
    title = "积分为负（有扣分欠账），暂不能兑换 / The balance is below zero: no redemption"
    title_zh = "积分为负（有扣分欠账），暂不能兑换"
    status = 409


class NoPointsAccount(Problem):
    code = "no_points_account"
    title = "该村民（户）还没有积分账户 / The member or household has no points account"
    title_zh = "该村民（户）还没有积分账户"
    status = 409


class MemberAmbiguous(Problem):
    code = "member_ambiguous"
    title = "多位村民使用此号码，请选择 / Several members match: choose one"
    title_zh = "多位村民使用此号码，请选择"
    status = 409


class SaleNotFound(Problem):
    code = "sale_not_found"
    title = "找不到该小票 / No such receipt"
    title_zh = "找不到该小票"
    status = 404


class RefundExceedsSale(Problem):
    code = "refund_exceeds_sale"
    title = "退货数量超过可退数量 / More than what is left to refund"
    title_zh = "退货数量超过可退数量"
    status = 409


class ShopNotFound(Problem):
    code = "shop_not_found"
    title = "联盟商家不存在或已停用 / No such active allied shop"
    title_zh = "联盟商家不存在或已停用"
    status = 404


class SettlementEmpty(Problem):
    code = "settlement_empty"
    title = "该期间没有待结算的兑换 / Nothing to settle in the period"
    title_zh = "该期间没有待结算的兑换"
    status = 409


class SettlementAlreadyPaid(Problem):
    code = "settlement_already_paid"
    title = "该结算单已付款 / The settlement is already paid"
    title_zh = "该结算单已付款"
    status = 409


class ShopAlreadyRegistered(Problem):
    code = "shop_already_registered"
    title = "该组织已是本村的联盟商家 / The organisation already is an allied shop here"
    title_zh = "该组织已是本村的联盟商家"
    status = 409


class SettlementPeriodOpen(Problem):
    code = "settlement_period_open"
    title = "结算期间还没有结束 / The period has not ended yet"
    title_zh = "结算期间还没有结束"
    status = 409


class SettlementOverlaps(Problem):
    code = "settlement_overlaps"
    title = "与该商家已有结算单的期间重叠 / The period overlaps another statement of the shop"
    title_zh = "与该商家已有结算单的期间重叠"
    status = 409
